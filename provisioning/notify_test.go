package provisioning

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// sampleData is realistic data for every notification key, as
// Service.carryOut builds it.
func sampleData() map[string]map[string]any {
	return map[string]map[string]any{
		"sim_swap_done":         {"MSISDN": "447700900123", "ICCIDLast4": "0752", "Name": "Dana Levi"},
		"apn_settings":          {"APN": "internet.simcore", "Username": "web", "Password": "s3cret", "Plan": "Travel 10GB"},
		"voicemail_changed":     {"Enabled": true, "Language": "he"},
		"forwarding_changed":    {"Condition": "no_reply", "Number": "447700900456"},
		"plan_dates_changed":    {"Start": "2026-12-01", "End": "2027-01-31"},
		"service_suspended":     {"MSISDN": "447700900123"},
		"service_resumed":       {"MSISDN": "447700900123"},
		"usage_threshold":       {"Percent": 80, "Type": "data"},
		"data_barred":           {},
		"balance_low":           {"Balance": "1.50 EUR"},
		"balance_exhausted":     {},
		"balance_used_up":       {},
		"data_resumed":          {},
		"outgoing_barred":       {},
		"outgoing_resumed":      {},
		"outgoing_data_barred":  {},
		"outgoing_data_resumed": {},
	}
}

// variants are the other shapes of each key's data: optional fields
// empty, every enumerated value.
func variants() map[string][]map[string]any {
	v := map[string][]map[string]any{
		"sim_swap_done":      {{"MSISDN": "447700900123", "ICCIDLast4": "0752", "Name": ""}},
		"apn_settings":       {{"APN": "internet", "Username": "", "Password": "", "Plan": ""}},
		"voicemail_changed":  {{"Enabled": false, "Language": "en"}},
		"plan_dates_changed": {{"Start": "2026-12-01", "End": ""}},
	}
	for _, k := range ForwardingKinds {
		v["forwarding_changed"] = append(v["forwarding_changed"],
			map[string]any{"Condition": string(k), "Number": "447700900456"},
			map[string]any{"Condition": string(k), "Number": ""})
	}
	for _, l := range VoicemailLanguages() {
		v["voicemail_changed"] = append(v["voicemail_changed"], map[string]any{"Enabled": true, "Language": l.Code})
	}
	for _, typ := range []string{"data", "voice", "sms"} {
		// float64: what a notice's data is after a JSON round trip
		v["usage_threshold"] = append(v["usage_threshold"], map[string]any{"Percent": float64(90), "Type": typ})
	}
	return v
}

func TestLanguagesAndKeys(t *testing.T) {
	t.Parallel()
	langs := NotificationLanguages()
	for _, want := range []string{"da", "en", "he", "ru"} {
		if !slices.Contains(langs, want) {
			t.Errorf("NotificationLanguages() = %v, missing %s", langs, want)
		}
	}
	if !slices.IsSorted(langs) {
		t.Errorf("NotificationLanguages() = %v, not sorted", langs)
	}
	// Every key with sample data has texts, and every key with texts has
	// sample data, so the render tests below cover them all.
	keys := map[string]bool{}
	for _, tt := range mustTexts(t).sets[FallbackLanguage].Templates() {
		if k, ok := strings.CutSuffix(tt.Name(), ".sms"); ok {
			keys[k] = true
		}
	}
	if got, want := slices.Sorted(maps.Keys(keys)), slices.Sorted(maps.Keys(sampleData())); !slices.Equal(got, want) {
		t.Errorf("keys with texts %v, keys with sample data %v", got, want)
	}
}

// TestNoTextMissingALanguage: every template of en.tmpl (texts and terms)
// is written in every language, and the terms cover every forwarding
// condition and voicemail language.
func TestNoTextMissingALanguage(t *testing.T) {
	t.Parallel()
	tx := mustTexts(t)
	var names []string
	for _, tt := range tx.sets[FallbackLanguage].Templates() {
		if tt.Name() != FallbackLanguage && !strings.HasSuffix(tt.Name(), ".tmpl") {
			names = append(names, tt.Name())
		}
	}
	for _, k := range ForwardingKinds {
		names = append(names, "cond/"+string(k))
	}
	for _, l := range VoicemailLanguages() {
		names = append(names, "lang/"+l.Code)
	}
	for key := range sampleData() {
		names = append(names, key+".sms", key+".subject", key+".body")
	}
	for _, lang := range NotificationLanguages() {
		for _, name := range names {
			if tx.sets[lang].Lookup(name) == nil {
				t.Errorf("%s.tmpl has no %q", lang, name)
			}
		}
	}
}

func TestEveryNotificationRendersInEveryLanguage(t *testing.T) {
	t.Parallel()
	samples, more := sampleData(), variants()
	for _, lang := range NotificationLanguages() {
		for key, data := range samples {
			for i, d := range append([]map[string]any{data}, more[key]...) {
				t.Run(lang+"/"+key+"/"+string(rune('0'+i)), func(t *testing.T) {
					t.Parallel()
					n := Notification{Key: key, Language: lang, Data: d}
					sms, err := RenderSMS(n)
					if err != nil {
						t.Fatalf("RenderSMS: %v", err)
					}
					subject, body, err := RenderEmail(n)
					if err != nil {
						t.Fatalf("RenderEmail: %v", err)
					}
					for what, s := range map[string]string{"sms": sms, "subject": subject, "body": body} {
						if strings.TrimSpace(s) == "" || strings.Contains(s, "<no value>") || !utf8.ValidString(s) {
							t.Errorf("%s = %q", what, s)
						}
						if strings.Contains(s, "  ") || strings.Contains(s, " .") || strings.Contains(s, "\n\n\n") {
							t.Errorf("%s has stray spacing: %q", what, s)
						}
					}
					if strings.Contains(subject, "\n") || !strings.HasSuffix(body, "\n") || strings.HasSuffix(body, "\n\n") {
						t.Errorf("subject %q or body end %q malformed", subject, body[max(0, len(body)-10):])
					}
					// Values the reader needs are printed verbatim.
					for _, f := range []string{"MSISDN", "ICCIDLast4", "APN", "Username", "Password", "Number", "Balance"} {
						if v, _ := d[f].(string); v != "" && !strings.Contains(sms, v) {
							t.Errorf("sms %q lacks %s %q", sms, f, v)
						}
					}
				})
			}
		}
	}
}

// TestSMSLength keeps SMS texts short: English and Danish in the GSM 7-bit
// alphabet within one 160-septet message; Hebrew and Russian (UCS-2) within
// two concatenated parts of 67 characters.
func TestSMSLength(t *testing.T) {
	t.Parallel()
	for _, lang := range NotificationLanguages() {
		for key, d := range sampleData() {
			sms, err := RenderSMS(Notification{Key: key, Language: lang, Data: d})
			if err != nil {
				t.Fatal(err)
			}
			septets, gsm := gsm7Septets(sms)
			chars := utf8.RuneCountInString(sms)
			t.Logf("%s %-19s gsm7=%-5v septets=%3d chars=%3d", lang, key, gsm, septets, chars)
			switch lang {
			case "en", "da":
				if !gsm || septets > 160 {
					t.Errorf("%s %s: GSM 7-bit %v, %d septets, want ≤ 160: %q", lang, key, gsm, septets, sms)
				}
			default:
				if chars > 2*67 {
					t.Errorf("%s %s: %d UCS-2 characters, want ≤ 134: %q", lang, key, chars, sms)
				}
			}
		}
	}
}

// TestBalanceNoticesSayTopUp checks the notices of docs/rating.md that tell
// the subscriber to top up do so in every language: a subscriber whose
// outgoing calls are barred must learn how to lift the bar.
func TestBalanceNoticesSayTopUp(t *testing.T) {
	t.Parallel()
	topUp := map[string]string{"en": "Top up", "da": "Tank op", "he": "להטעין", "ru": "Пополните"}
	tests := []struct{ name, key string }{
		{"balance exhausted with data barred", "balance_exhausted"},
		{"balance used up", "balance_used_up"},
		{"outgoing barred", "outgoing_barred"},
		{"outgoing and data barred", "outgoing_data_barred"},
	}
	for _, tt := range tests {
		for _, lang := range NotificationLanguages() {
			t.Run(tt.name+"/"+lang, func(t *testing.T) {
				t.Parallel()
				want, ok := topUp[lang]
				if !ok {
					t.Fatalf("no top-up phrase for %s: add one", lang)
				}
				sms, err := RenderSMS(Notification{Key: tt.key, Language: lang, Data: sampleData()[tt.key]})
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(sms, want) {
					t.Errorf("%s %s says nothing of topping up (%q): %q", lang, tt.key, want, sms)
				}
			})
		}
	}
}

func TestFallbackLanguage(t *testing.T) {
	t.Parallel()
	data := sampleData()["service_resumed"]
	en, err := RenderSMS(Notification{Key: "service_resumed", Language: "en", Data: data})
	if err != nil {
		t.Fatal(err)
	}
	he, _ := RenderSMS(Notification{Key: "service_resumed", Language: "he", Data: data})
	tests := []struct {
		name, lang, wantLang, want string
	}{
		{"unknown", "fr", "en", en},
		{"empty", "", "en", en},
		{"garbage", "../../etc", "en", en},
		{"upper case", "EN", "en", en},
		{"region", "he-IL", "he", he},
		{"underscore region", "he_IL", "he", he},
		{"old Hebrew code", "iw", "he", he},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := NotificationLanguage(tt.lang); got != tt.wantLang {
				t.Errorf("NotificationLanguage(%q) = %q, want %q", tt.lang, got, tt.wantLang)
			}
			got, err := RenderSMS(Notification{Key: "service_resumed", Language: tt.lang, Data: data})
			if err != nil || got != tt.want {
				t.Errorf("RenderSMS in %q = %q, %v; want %q", tt.lang, got, err, tt.want)
			}
		})
	}
}

// TestHebrewIntact checks right-to-left text byte for byte: the template's
// Hebrew, the left-to-right values inside it, and no direction marks.
func TestHebrewIntact(t *testing.T) {
	t.Parallel()
	n := Notification{Key: "sim_swap_done", Language: "he", Data: sampleData()["sim_swap_done"]}
	sms, err := RenderSMS(n)
	if err != nil {
		t.Fatal(err)
	}
	want := "המספר 447700900123 הועבר לכרטיס ה-SIM החדש שמסתיים ב-0752. כרטיס ה-SIM הישן כבר לא פעיל."
	if sms != want {
		t.Fatalf("RenderSMS he =\n%q\nwant\n%q", sms, want)
	}
	// "המספר" in UTF-8: five letters of the Hebrew block, two bytes each.
	if !strings.HasPrefix(sms, "\xd7\x94\xd7\x9e\xd7\xa1\xd7\xa4\xd7\xa8 ") {
		t.Errorf("Hebrew bytes changed: % x", sms[:12])
	}
	subject, body, err := RenderEmail(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{sms, subject, body} {
		if strings.ContainsAny(s, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufffd") {
			t.Errorf("direction marks or replacement characters in %q", s)
		}
	}
	if !strings.HasPrefix(body, "שלום Dana Levi,\n\n") {
		t.Errorf("body starts %q", body[:min(len(body), 40)])
	}
}

func TestMissingDataIsAnError(t *testing.T) {
	t.Parallel()
	for key, data := range sampleData() {
		for field := range data {
			t.Run(key+"/"+field, func(t *testing.T) {
				t.Parallel()
				d := maps.Clone(data)
				delete(d, field)
				n := Notification{Key: key, Language: "en", Data: d}
				_, smsErr := RenderSMS(n)
				_, _, emailErr := RenderEmail(n)
				if smsErr == nil && emailErr == nil {
					t.Fatalf("%s without %s rendered", key, field)
				}
				if err := cmpOrNil(smsErr, emailErr); !strings.Contains(err.Error(), field) {
					t.Errorf("error %q does not name %s", err, field)
				}
			})
		}
	}
	if _, err := RenderSMS(Notification{Key: "service_suspended", Language: "da"}); err == nil {
		t.Error("nil data rendered")
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		n       Notification
		wantErr error // nil: any error
	}{
		{"unknown key", Notification{Key: "no_such", Language: "en"}, ErrUnknownNotification},
		{"empty key", Notification{Language: "he"}, ErrUnknownNotification},
		{"a term, not a key", Notification{Key: "usage/sms", Language: "en"}, ErrUnknownNotification},
		{"the footer", Notification{Key: "footer", Language: "en"}, ErrUnknownNotification},
		{"unknown condition", Notification{Key: "forwarding_changed", Language: "da", Data: map[string]any{"Condition": "sometimes", "Number": "4512345678"}}, nil},
		{"unknown voicemail language", Notification{Key: "voicemail_changed", Language: "ru", Data: map[string]any{"Enabled": true, "Language": "xx"}}, nil},
		{"date not YYYY-MM-DD", Notification{Key: "plan_dates_changed", Language: "en", Data: map[string]any{"Start": "01/12/2026", "End": ""}}, nil},
		{"date not a string", Notification{Key: "plan_dates_changed", Language: "en", Data: map[string]any{"Start": 20261201, "End": ""}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := RenderSMS(tt.n)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("RenderSMS error %v, want %v", err, cmpOrNil(tt.wantErr, errors.New("an error")))
			}
			if _, _, err := RenderEmail(tt.n); err == nil {
				t.Error("RenderEmail: no error")
			}
		})
	}
}

func TestRenderedTexts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		n    Notification
		want string
	}{
		{"apn with credentials", Notification{"apn_settings", "en", sampleData()["apn_settings"]},
			"Mobile data settings for Travel 10GB:\nAPN: internet.simcore\nUsername: web\nPassword: s3cret\nEnter them in your phone's mobile network settings."},
		{"apn without", Notification{"apn_settings", "da", map[string]any{"APN": "internet", "Username": "", "Password": "", "Plan": ""}},
			"Indstillinger for mobildata:\nAPN: internet\nIndtast dem i telefonens netværksindstillinger."},
		{"dates in Danish layout", Notification{"plan_dates_changed", "da", sampleData()["plan_dates_changed"]},
			"Dit abonnement starter nu den 01.12.2026 og slutter den 31.01.2027."},
		{"dates in English, open end", Notification{"plan_dates_changed", "en", map[string]any{"Start": "2026-12-01", "End": ""}},
			"Your plan now starts on 1 Dec 2026 and has no end date."},
		{"voicemail language named in Russian", Notification{"voicemail_changed", "ru", map[string]any{"Enabled": true, "Language": "he"}},
			"Голосовая почта включена. Язык: иврит."},
		{"forwarding cancelled", Notification{"forwarding_changed", "en", map[string]any{"Condition": "busy", "Number": ""}},
			"Forwarding when busy is now off."},
		{"usage in Danish", Notification{"usage_threshold", "da", map[string]any{"Percent": 80, "Type": "voice"}},
			"Du har brugt 80 % af dine inkluderede taleminutter."},
		{"low balance", Notification{"balance_low", "en", map[string]any{"Balance": "1.50 EUR"}},
			"Your balance is low: 1.50 EUR left. Top up to keep using mobile data."},
		{"balance used up", Notification{"balance_exhausted", "en", nil},
			"Your balance is used up, so mobile data is paused. Top up to continue."},
		{"data back in Russian", Notification{"data_resumed", "ru", map[string]any{}},
			"Мобильный интернет снова работает."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := RenderSMS(tt.n)
			if err != nil || got != tt.want {
				t.Errorf("RenderSMS = %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

func TestVoicemailLanguages(t *testing.T) {
	t.Parallel()
	langs := VoicemailLanguages()
	byCode := map[string]Language{}
	for _, l := range langs {
		if l.Code == "" || l.Name == "" || l.Native == "" {
			t.Errorf("incomplete language %+v", l)
		}
		if _, dup := byCode[l.Code]; dup {
			t.Errorf("%s listed twice", l.Code)
		}
		byCode[l.Code] = l
	}
	if byCode["en"].Name != "English" || byCode["he"].Native != "עברית" {
		t.Errorf("VoicemailLanguages() = %+v, want en English and he עברית", langs)
	}
	langs[0].Code = "changed" // the caller's copy
	if VoicemailLanguages()[0].Code == "changed" {
		t.Error("VoicemailLanguages returns shared storage")
	}
	tests := []struct {
		code string
		want bool
	}{{"en", true}, {"he", true}, {"xx", false}, {"", false}, {"HE", false}, {"he-IL", false}}
	for _, tt := range tests {
		if got := IsVoicemailLanguage(tt.code); got != tt.want {
			t.Errorf("IsVoicemailLanguage(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
}

func mustTexts(t *testing.T) *texts {
	t.Helper()
	tx, err := loadTexts()
	if err != nil {
		t.Fatalf("embedded notification texts: %v", err)
	}
	return tx
}

func cmpOrNil(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// gsm7Septets counts the septets of s in the GSM 03.38 default alphabet
// (extension characters take two) and reports whether s fits it at all.
func gsm7Septets(s string) (int, bool) {
	const basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	const ext = "\f^{}\\[~]|€"
	n, ok := 0, true
	for _, r := range s {
		switch {
		case strings.ContainsRune(basic, r):
			n++
		case strings.ContainsRune(ext, r):
			n += 2
		default:
			ok = false
			n++
		}
	}
	return n, ok
}
