package portal

import (
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Languages are the languages the portal and its emails speak.
var Languages = []string{"en", "he", "da", "ru"}

// DefaultLanguage is a new user's language when none is given.
const DefaultLanguage = "en"

// Limits on account input.
const (
	MinPasswordLen = 10  // characters
	MaxPasswordLen = 256 // bytes: bounds the hashing work one request can ask for
	MaxNameLen     = 200 // characters
	MaxEmailLen    = 254 // bytes (RFC 5321 path limit)
)

// User is a portal account. Its password hash never leaves the store and
// the domain.
type User struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Language  string    `json:"language"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Registration is what a new user gives.
type Registration struct {
	Email         string
	Password      string
	Name          string
	Language      string // "" is DefaultLanguage
	AcceptedTerms bool
}

// Validate checks r and normalises its email and name. Errors are
// *FieldError.
func (r *Registration) Validate() error {
	email, err := newEmail(r.Email)
	if err != nil {
		return err
	}
	r.Email = email
	if r.Name, err = validName(r.Name); err != nil {
		return err
	}
	if err := ValidatePassword("password", r.Password); err != nil {
		return err
	}
	if r.Language == "" {
		r.Language = DefaultLanguage
	}
	if err := ValidateLanguage(r.Language); err != nil {
		return err
	}
	if !r.AcceptedTerms {
		return fieldErr("accepted_terms", "the terms must be accepted")
	}
	return nil
}

// NormalizeEmail checks an address and returns it lower-cased and trimmed,
// the form it is stored and compared in. Errors are *FieldError on "email".
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "":
		return "", fieldErr("email", "required")
	case len(s) > MaxEmailLen:
		return "", fieldErr("email", "longer than %d bytes", MaxEmailLen)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", fieldErr("email", "not an email address")
	}
	return s, nil
}

// newEmail normalises an address a user gives as theirs (registration, an
// email change) and refuses an address literal ("x@[10.0.0.1]"): mail to
// it would go to a host of the client's choosing, internal ones included.
// Logins and resets read addresses with NormalizeEmail alone, so an
// account registered before the rule keeps working.
func newEmail(s string) (string, error) {
	norm, err := NormalizeEmail(s)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(norm[strings.LastIndexByte(norm, '@')+1:], "[") {
		return "", fieldErr("email", "want a host name after @, not an address literal")
	}
	return norm, nil
}

// ValidatePassword checks a new password for field. Errors are *FieldError.
func ValidatePassword(field, p string) error {
	switch {
	case utf8.RuneCountInString(p) < MinPasswordLen:
		return fieldErr(field, "at least %d characters", MinPasswordLen)
	case len(p) > MaxPasswordLen:
		return fieldErr(field, "at most %d bytes", MaxPasswordLen)
	case !utf8.ValidString(p):
		return fieldErr(field, "not valid UTF-8")
	}
	return nil
}

// ValidateLanguage checks a language code. Errors are *FieldError.
func ValidateLanguage(lang string) error {
	if !slices.Contains(Languages, lang) {
		return fieldErr("language", "want one of %v", Languages)
	}
	return nil
}

func validName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fieldErr("name", "required")
	case utf8.RuneCountInString(s) > MaxNameLen:
		return "", fieldErr("name", "at most %d characters", MaxNameLen)
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return "", fieldErr("name", "contains control characters")
	}
	return s, nil
}

// ProfileChange is a change of name and/or language; nil fields stay.
type ProfileChange struct {
	Name     *string
	Language *string
}

// Validate checks c and trims its name. Errors are *FieldError.
func (c *ProfileChange) Validate() error {
	if c.Name != nil {
		n, err := validName(*c.Name)
		if err != nil {
			return err
		}
		c.Name = &n
	}
	if c.Language != nil {
		if err := ValidateLanguage(*c.Language); err != nil {
			return err
		}
	}
	return nil
}
