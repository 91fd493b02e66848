package provisioning

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Notification texts are data: templates/<lang>.tmpl holds every text of
// one language, templates/voicemail_languages.json the voicemail languages.
// Translators edit those files; en.tmpl documents the keys and their data.
//
//go:embed templates/*.tmpl templates/voicemail_languages.json
var templateFS embed.FS

// FallbackLanguage is used for a language no template file is written in,
// and for a key that a language's file lacks.
const FallbackLanguage = "en"

// ErrUnknownNotification is returned by RenderSMS and RenderEmail for a key
// that has no template in any language.
var ErrUnknownNotification = errors.New("unknown notification")

// Notification is a message to a subscriber before it is rendered: Key
// names the texts (sim_swap_done, service_suspended, ...), Language is the
// subscriber's language, Data the values the texts print. Every field a
// text names must be present in Data, even when empty: an empty value is
// how "none" is said (no end date, no APN password).
type Notification struct {
	Key, Language string
	Data          map[string]any
}

// Language is an offered voicemail language.
type Language struct {
	Code   string `json:"code"`   // ISO 639-1, as in VoicemailSettings.Language
	Name   string `json:"name"`   // in English
	Native string `json:"native"` // in the language itself
}

// RenderSMS returns the SMS text of n. An unknown or empty language falls
// back to English (see NotificationLanguage). Errors: ErrUnknownNotification,
// or a template error naming a field missing from n.Data.
func RenderSMS(n Notification) (string, error) {
	s, err := render(n, "sms")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

// RenderEmail returns the email subject and plain-text body of n, with the
// same fallback and errors as RenderSMS. The subject is one line.
func RenderEmail(n Notification) (subject, body string, err error) {
	subject, err = render(n, "subject")
	if err != nil {
		return "", "", err
	}
	subject = strings.TrimSpace(subject)
	if strings.ContainsAny(subject, "\r\n") {
		return "", "", fmt.Errorf("notification %s: subject has a line break", n.Key)
	}
	body, err = render(n, "body")
	if err != nil {
		return "", "", err
	}
	return subject, strings.TrimSpace(body) + "\n", nil
}

// NotificationLanguages lists the languages notification texts are written
// in, sorted.
func NotificationLanguages() []string {
	t, err := loadTexts()
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(t.sets))
}

// NotificationLanguage is the language a notification for lang is written
// in: lang's primary subtag ("he" for "he-IL", "he" for the old "iw") when
// texts exist in it, else FallbackLanguage.
func NotificationLanguage(lang string) string {
	t, err := loadTexts()
	if err != nil {
		return FallbackLanguage
	}
	l := primaryTag(lang)
	if _, ok := t.sets[l]; ok {
		return l
	}
	return FallbackLanguage
}

// VoicemailLanguages lists the languages voicemail is offered in, in the
// order of templates/voicemail_languages.json.
func VoicemailLanguages() []Language {
	t, err := loadTexts()
	if err != nil {
		return nil
	}
	return slices.Clone(t.voicemail)
}

// IsVoicemailLanguage reports whether code is an offered voicemail
// language. It matches codes exactly ("he", not "he-IL"): the code is stored
// and sent to the network as given.
func IsVoicemailLanguage(code string) bool {
	t, err := loadTexts()
	if err != nil {
		return false
	}
	return slices.ContainsFunc(t.voicemail, func(l Language) bool { return l.Code == code })
}

func render(n Notification, part string) (string, error) {
	t, err := loadTexts()
	if err != nil {
		return "", err
	}
	if !validKey(n.Key) {
		return "", fmt.Errorf("%w: %q", ErrUnknownNotification, n.Key)
	}
	lang := NotificationLanguage(n.Language)
	name := n.Key + "." + part
	tt := t.sets[lang].Lookup(name)
	if tt == nil {
		lang = FallbackLanguage // a translation not written yet
		if tt = t.sets[lang].Lookup(name); tt == nil {
			return "", fmt.Errorf("%w: %q (%s)", ErrUnknownNotification, n.Key, part)
		}
	}
	var b strings.Builder
	if err := tt.Execute(&b, n.Data); err != nil {
		return "", fmt.Errorf("render notification %s in %s: %w", name, lang, err)
	}
	return b.String(), nil
}

// texts is the parsed template files: one template set per language.
type texts struct {
	sets      map[string]*template.Template
	voicemail []Language
}

// loadTexts parses the embedded files once. They are part of the binary, so
// an error here is a programming error that the tests catch.
var loadTexts = sync.OnceValues(func() (*texts, error) {
	t := &texts{sets: make(map[string]*template.Template)}
	files, err := fs.Glob(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		lang := strings.TrimSuffix(path.Base(f), ".tmpl")
		set, err := parseLanguage(lang, f)
		if err != nil {
			return nil, err
		}
		t.sets[lang] = set
	}
	if t.sets[FallbackLanguage] == nil {
		return nil, fmt.Errorf("notification texts: no %s.tmpl", FallbackLanguage)
	}
	raw, err := templateFS.ReadFile("templates/voicemail_languages.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &t.voicemail); err != nil {
		return nil, fmt.Errorf("voicemail languages: %w", err)
	}
	return t, nil
})

// parseLanguage parses one language's file with the functions its texts
// use: "term GROUP VALUE" prints the language's template GROUP/VALUE (a
// forwarding condition, a language name), "date" prints a YYYY-MM-DD date
// in the language's date/layout. Terms are named with a slash so that no
// term can be taken for a notification's KEY.sms.
func parseLanguage(lang, file string) (*template.Template, error) {
	var set *template.Template
	term := func(group string, v any) (string, error) {
		name := group + "/" + fmt.Sprint(v)
		tt := set.Lookup(name)
		if tt == nil {
			return "", fmt.Errorf("no term %s in %s", name, lang)
		}
		var b strings.Builder
		if err := tt.Execute(&b, nil); err != nil {
			return "", err
		}
		return strings.TrimSpace(b.String()), nil
	}
	date := func(v any) (string, error) {
		var d time.Time
		switch v := v.(type) {
		case time.Time:
			d = v
		case string:
			var err error
			if d, err = time.Parse(time.DateOnly, v); err != nil {
				return "", fmt.Errorf("date %q: want YYYY-MM-DD", v)
			}
		default:
			return "", fmt.Errorf("date: %T is not a date", v)
		}
		layout, err := term("date", "layout")
		if err != nil {
			return "", err
		}
		return d.Format(layout), nil
	}
	set = template.New(lang).Option("missingkey=error").Funcs(template.FuncMap{"term": term, "date": date})
	if _, err := set.ParseFS(templateFS, file); err != nil {
		return nil, fmt.Errorf("notification texts %s: %w", lang, err)
	}
	return set, nil
}

// validKey keeps a key to lower-case letters, digits and '_', so that it
// can only name a notification, never a term or a file's own template.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

func primaryTag(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(l, "-_"); i >= 0 {
		l = l[:i]
	}
	if l == "iw" { // Hebrew's code before 1989, still sent by old Java locales
		return "he"
	}
	return l
}
