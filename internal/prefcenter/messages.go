package prefcenter

import (
	"fmt"
	"strings"

	"github.com/rapport-dev/rapport/internal/render"
)

// catalogs holds every customer-facing string, by language and message id,
// in this one place so a translator edits one file. English is complete and
// is the fallback for any language or id missing here; a test checks that
// every other language has exactly English's ids.
var catalogs = map[string]map[string]string{
	"en": {
		"date_format": "2 January 2006",

		"prefs.title": "Your email preferences",
		"prefs.intro": "Choose how often %s writes to %s and about what. Changes apply at once, also to messages already on their way.",

		"status.unsubscribed": "You are unsubscribed from all marketing email. You can resubscribe at the bottom of this page.",
		"status.bounced":      "Email to this address bounced, so we no longer send marketing email to it. You cannot resubscribe yourself: please contact %s.",
		"status.complained":   "This address reported our email as unwanted, so we no longer send marketing email to it. You cannot resubscribe yourself: please contact %s.",
		"status.blocked":      "This address is blocked from our marketing email. You cannot resubscribe yourself: please contact %s.",
		"status.paused":       "Marketing email is paused until %s.",

		"frequency.legend":          "How often should we write?",
		"frequency.hint":            "We never write more often than your account allows, whatever you choose.",
		"frequency.applies_yours":   "Applies now: your choice",
		"frequency.applies_company": "Applies now: set by %s",
		"frequency.yours_capped":    "Your choice; your account allows less for now",
		"frequency.yours":           "Your choice",
		"frequency.applies_other":   "Now “%s” applies, set for your account by %s: %s",
		"topics.legend":             "Topics",
		"topics.hint":               "Untick a topic to stop receiving email about it.",
		"save":                      "Save preferences",

		"pause.legend": "Take a break",
		"pause.hint":   "Pause all marketing email for a while. It starts again by itself.",
		"pause.30":     "Pause for 30 days",
		"pause.90":     "Pause for 90 days",
		"pause.resume": "Resume now",

		"unsub.legend": "Unsubscribe",
		"unsub.hint":   "%s will send you no more marketing email. Messages about your account, such as receipts, still arrive.",
		"unsub.button": "Unsubscribe from everything",
		"resub.legend": "Resubscribe",
		"resub.hint":   "Receive our email again, with the preferences above.",
		"resub.button": "Resubscribe",

		"unsubpage.title":   "Unsubscribe from %s's email?",
		"unsubpage.text":    "Press the button to stop all marketing email to %s.",
		"unsubpage.already": "You are already unsubscribed from all marketing email.",
		"unsubpage.button":  "Unsubscribe",
		"unsubpage.prefs":   "Rather receive less? Choose how often and about what",

		"done.title":   "Your preferences were saved",
		"done.unsub":   "You are unsubscribed",
		"done.nothing": "Nothing changed: your preferences were already set this way.",
		"done.back":    "Back to your preferences",

		"change.frequency":    "How often: “%s” (before: “%s”).",
		"change.frequency_on": "How often: “%s”.",
		"change.topic_off":    "You will no longer receive email about %s.",
		"change.topic_on":     "You will receive email about %s again.",
		"change.paused":       "Marketing email is paused until %s.",
		"change.resumed":      "The pause has ended: you will receive our email again.",
		"change.unsubscribed": "You are unsubscribed from all marketing email.",
		"change.resubscribed": "You are subscribed to our email again.",

		"error.400.title": "This request could not be processed",
		"error.400.text":  "Please go back, check your choices and try again.",
		"error.403.title": "This form could not be verified",
		"error.403.text":  "Please open the page again from the link in your email and try again. Nothing was changed.",
		"error.404.title": "Page not found",
		"error.404.text":  "This link is not valid. If you copied it from an email, check that it is complete.",
		"error.409.title": "This address cannot be resubscribed",
		"error.409.text":  "Our email to this address bounced or was reported as unwanted, so only %s can lift the block. Please contact them.",
		"error.429.title": "Too many requests",
		"error.429.text":  "Please wait a minute and try again.",
		"error.500.title": "Something went wrong",
		"error.500.text":  "Nothing was changed. Please try again later.",

		"preview.banner":      "Preview: this is the page the customer sees from this message. Nothing can be changed from a preview.",
		"error.preview.title": "This is a preview",
		"error.preview.text":  "Links in a campaign preview show the customer's page but cannot change anything. Nothing was changed.",

		"bad.action":    "The form asked for something this page does not do.",
		"bad.frequency": "Please choose one of the frequencies offered.",
		"bad.topics":    "Please choose among the topics offered.",
		"bad.pause":     "Please choose a pause of 30 or 90 days, or resume.",
		"bad.form":      "The form could not be read.",
	},
	"de": {
		"date_format": "02.01.2006",

		"prefs.title": "Ihre E-Mail-Einstellungen",
		"prefs.intro": "Wählen Sie, wie oft und worüber %s an %s schreibt. Änderungen gelten sofort, auch für bereits geplante Nachrichten.",

		"status.unsubscribed": "Sie sind von allen Werbe-E-Mails abgemeldet. Unten auf dieser Seite können Sie sich wieder anmelden.",
		"status.bounced":      "E-Mails an diese Adresse kamen zurück, daher senden wir keine Werbe-E-Mails mehr dorthin. Sie können sich nicht selbst wieder anmelden: Bitte wenden Sie sich an %s.",
		"status.complained":   "Diese Adresse hat unsere E-Mails als unerwünscht gemeldet, daher senden wir keine Werbe-E-Mails mehr dorthin. Sie können sich nicht selbst wieder anmelden: Bitte wenden Sie sich an %s.",
		"status.blocked":      "Diese Adresse ist für unsere Werbe-E-Mails gesperrt. Sie können sich nicht selbst wieder anmelden: Bitte wenden Sie sich an %s.",
		"status.paused":       "Werbe-E-Mails sind bis %s pausiert.",

		"frequency.legend":          "Wie oft sollen wir schreiben?",
		"frequency.hint":            "Wir schreiben nie öfter, als Ihr Konto es vorsieht, was immer Sie wählen.",
		"frequency.applies_yours":   "Gilt jetzt: Ihre Wahl",
		"frequency.applies_company": "Gilt jetzt: von %s festgelegt",
		"frequency.yours_capped":    "Ihre Wahl; Ihr Konto sieht derzeit weniger vor",
		"frequency.yours":           "Ihre Wahl",
		"frequency.applies_other":   "Jetzt gilt „%s“, für Ihr Konto von %s festgelegt: %s",
		"topics.legend":             "Themen",
		"topics.hint":               "Entfernen Sie den Haken bei einem Thema, um dazu keine E-Mails mehr zu erhalten.",
		"save":                      "Einstellungen speichern",

		"pause.legend": "Eine Pause einlegen",
		"pause.hint":   "Alle Werbe-E-Mails eine Zeit lang pausieren. Danach geht es von selbst weiter.",
		"pause.30":     "30 Tage pausieren",
		"pause.90":     "90 Tage pausieren",
		"pause.resume": "Jetzt fortsetzen",

		"unsub.legend": "Abmelden",
		"unsub.hint":   "%s sendet Ihnen keine Werbe-E-Mails mehr. Nachrichten zu Ihrem Konto, etwa Belege, kommen weiterhin.",
		"unsub.button": "Von allem abmelden",
		"resub.legend": "Wieder anmelden",
		"resub.hint":   "Wieder E-Mails von uns erhalten, mit den Einstellungen oben.",
		"resub.button": "Wieder anmelden",

		"unsubpage.title":   "Von den E-Mails von %s abmelden?",
		"unsubpage.text":    "Drücken Sie die Schaltfläche, um alle Werbe-E-Mails an %s zu beenden.",
		"unsubpage.already": "Sie sind bereits von allen Werbe-E-Mails abgemeldet.",
		"unsubpage.button":  "Abmelden",
		"unsubpage.prefs":   "Lieber weniger erhalten? Wählen Sie, wie oft und worüber",

		"done.title":   "Ihre Einstellungen wurden gespeichert",
		"done.unsub":   "Sie sind abgemeldet",
		"done.nothing": "Nichts geändert: Ihre Einstellungen waren bereits so.",
		"done.back":    "Zurück zu Ihren Einstellungen",

		"change.frequency":    "Wie oft: „%s“ (vorher: „%s“).",
		"change.frequency_on": "Wie oft: „%s“.",
		"change.topic_off":    "Sie erhalten keine E-Mails mehr zu %s.",
		"change.topic_on":     "Sie erhalten wieder E-Mails zu %s.",
		"change.paused":       "Werbe-E-Mails sind bis %s pausiert.",
		"change.resumed":      "Die Pause ist beendet: Sie erhalten wieder E-Mails von uns.",
		"change.unsubscribed": "Sie sind von allen Werbe-E-Mails abgemeldet.",
		"change.resubscribed": "Sie sind wieder angemeldet.",

		"error.400.title": "Diese Anfrage konnte nicht verarbeitet werden",
		"error.400.text":  "Bitte gehen Sie zurück, prüfen Sie Ihre Auswahl und versuchen Sie es erneut.",
		"error.403.title": "Dieses Formular konnte nicht überprüft werden",
		"error.403.text":  "Bitte öffnen Sie die Seite erneut über den Link in Ihrer E-Mail und versuchen Sie es noch einmal. Es wurde nichts geändert.",
		"error.404.title": "Seite nicht gefunden",
		"error.404.text":  "Dieser Link ist ungültig. Wenn Sie ihn aus einer E-Mail kopiert haben, prüfen Sie, ob er vollständig ist.",
		"error.409.title": "Diese Adresse kann nicht wieder angemeldet werden",
		"error.409.text":  "Unsere E-Mails an diese Adresse kamen zurück oder wurden als unerwünscht gemeldet, daher kann nur %s die Sperre aufheben. Bitte wenden Sie sich an sie.",
		"error.429.title": "Zu viele Anfragen",
		"error.429.text":  "Bitte warten Sie eine Minute und versuchen Sie es erneut.",
		"error.500.title": "Etwas ist schiefgegangen",
		"error.500.text":  "Es wurde nichts geändert. Bitte versuchen Sie es später erneut.",

		"preview.banner":      "Vorschau: So sieht die Kundin oder der Kunde diese Seite aus dieser Nachricht. In einer Vorschau lässt sich nichts ändern.",
		"error.preview.title": "Dies ist eine Vorschau",
		"error.preview.text":  "Links in einer Kampagnenvorschau zeigen die Seite der Kundin oder des Kunden, können aber nichts ändern. Es wurde nichts geändert.",

		"bad.action":    "Das Formular verlangte etwas, das diese Seite nicht kann.",
		"bad.frequency": "Bitte wählen Sie eine der angebotenen Häufigkeiten.",
		"bad.topics":    "Bitte wählen Sie unter den angebotenen Themen.",
		"bad.pause":     "Bitte wählen Sie eine Pause von 30 oder 90 Tagen oder setzen Sie fort.",
		"bad.form":      "Das Formular konnte nicht gelesen werden.",
	},
}

// messages is one language's catalog, falling back to English.
type messages struct {
	lang string
	m    map[string]string
}

// lookup picks the catalog for a language tag such as "de-CH": the exact
// tag, then its base language, then English.
func lookup(tag string) messages {
	tag = strings.ToLower(strings.TrimSpace(tag))
	if m, ok := catalogs[tag]; ok {
		return messages{lang: tag, m: m}
	}
	if base, _, ok := strings.Cut(tag, "-"); ok {
		if m, ok := catalogs[base]; ok {
			return messages{lang: base, m: m}
		}
	}
	return messages{lang: "en", m: catalogs["en"]}
}

// T formats message id with args. A missing id shows as itself, so a
// forgotten string is visible in review rather than silently blank.
func (ms messages) T(id string, args ...any) string {
	s, ok := ms.m[id]
	if !ok {
		if s, ok = catalogs["en"][id]; !ok {
			return id
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(oneFullStop(s, args), args...)
}

// oneFullStop drops the full stop after a %s whose argument ends a
// sentence already: "please contact %s." with "Rapport Demo Inc." reads
// "please contact Rapport Demo Inc.", not "Inc..".
func oneFullStop(format string, args []any) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(format); i++ {
		b.WriteByte(format[i])
		if format[i] != '%' || i+1 == len(format) {
			continue
		}
		i++
		b.WriteByte(format[i])
		if format[i] == '%' {
			continue
		}
		if format[i] == 's' && n < len(args) && i+1 < len(format) && format[i+1] == '.' {
			if s, ok := args[n].(string); ok && s != "" && render.EndSentence(s) == s {
				i++ // the argument's own full stop ends the sentence
			}
		}
		n++
	}
	return b.String()
}
