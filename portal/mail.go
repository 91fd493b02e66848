package portal

import (
	"fmt"
	"strings"
	"time"
)

// mailText is a rendered account email.
type mailText struct {
	kind    string // for logs: reset or verify
	subject string
	text    string
}

// accountMails are the account emails in each language: subject, then a
// body with %[1]s the token, %[2]s the link and %[3]d the hours it is
// valid.
var accountMails = map[string]map[string][2]string{
	"reset": {
		"en": {"Reset your simcore password", "Someone asked to reset the password of your simcore account.\n\nTo choose a new one, open %[2]s\nor enter this code: %[1]s\n\nThe code works once, within %[3]d hour(s). If you did not ask, ignore this email; your password stays as it is.\n"},
		"he": {"איפוס הסיסמה שלך ב-simcore", "התקבלה בקשה לאפס את הסיסמה של חשבון simcore שלך.\n\nכדי לבחור סיסמה חדשה, פתח את %[2]s\nאו הזן את הקוד: %[1]s\n\nהקוד תקף פעם אחת, במשך %[3]d שעות. אם לא ביקשת, התעלם מהודעה זו.\n"},
		"da": {"Nulstil din simcore-adgangskode", "Nogen har bedt om at nulstille adgangskoden til din simcore-konto.\n\nVælg en ny ved at åbne %[2]s\neller indtast denne kode: %[1]s\n\nKoden virker én gang, inden for %[3]d time(r). Har du ikke bedt om det, så se bort fra denne e-mail.\n"},
		"ru": {"Сброс пароля simcore", "Поступил запрос на сброс пароля вашей учётной записи simcore.\n\nЧтобы задать новый пароль, откройте %[2]s\nили введите код: %[1]s\n\nКод действует один раз в течение %[3]d ч. Если вы не запрашивали сброс, просто проигнорируйте это письмо.\n"},
	},
	"verify": {
		"en": {"Confirm your new simcore email address", "To make this address the contact email of your simcore account, open %[2]s\nor enter this code: %[1]s\n\nThe code works once, within %[3]d hour(s). Until then your old address stays in use.\n"},
		"he": {"אישור כתובת הדוא\"ל החדשה שלך ב-simcore", "כדי להפוך כתובת זו לכתובת הקשר של חשבון simcore שלך, פתח את %[2]s\nאו הזן את הקוד: %[1]s\n\nהקוד תקף פעם אחת, במשך %[3]d שעות.\n"},
		"da": {"Bekræft din nye e-mailadresse hos simcore", "Gør denne adresse til kontaktadressen for din simcore-konto ved at åbne %[2]s\neller indtast denne kode: %[1]s\n\nKoden virker én gang, inden for %[3]d time(r).\n"},
		"ru": {"Подтвердите новый адрес электронной почты simcore", "Чтобы сделать этот адрес контактным для вашей учётной записи simcore, откройте %[2]s\nили введите код: %[1]s\n\nКод действует один раз в течение %[3]d ч.\n"},
	},
}

func render(kind, lang, link, token string, ttl time.Duration) mailText {
	t, ok := accountMails[kind][lang]
	if !ok {
		t = accountMails[kind][DefaultLanguage]
	}
	hours := int((ttl + time.Hour - 1) / time.Hour)
	return mailText{kind: kind, subject: t[0], text: fmt.Sprintf(t[1], token, link, hours)}
}

func resetMail(lang, base, token string, ttl time.Duration) mailText {
	return render("reset", lang, strings.TrimRight(base, "/")+"/reset-password#token="+token, token, ttl)
}

func verifyMail(lang, base, token string, ttl time.Duration) mailText {
	return render("verify", lang, strings.TrimRight(base, "/")+"/verify-email#token="+token, token, ttl)
}
