package esp

import (
	"encoding/json"
	"strings"
	"time"
)

// sesNotification is an Amazon SES notification (notificationType) or
// event-publishing record (eventType), the Message of an SNS Notification.
// Only the fields rapport reads are declared; SES documents that it adds
// fields, which encoding/json skips.
type sesNotification struct {
	NotificationType text `json:"notificationType"`
	EventType        text `json:"eventType"`
	Mail             struct {
		MessageID text `json:"messageId"`
		Headers   []struct {
			Name  text `json:"name"`
			Value text `json:"value"`
		} `json:"headers"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        text `json:"bounceType"`
		BounceSubType     text `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress   text `json:"emailAddress"`
			Action         text `json:"action"`
			Status         text `json:"status"`
			DiagnosticCode text `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
		Timestamp  text `json:"timestamp"`
		FeedbackID text `json:"feedbackId"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress text `json:"emailAddress"`
		} `json:"complainedRecipients"`
		Timestamp             text `json:"timestamp"`
		FeedbackID            text `json:"feedbackId"`
		ComplaintFeedbackType text `json:"complaintFeedbackType"`
		ComplaintSubType      text `json:"complaintSubType"`
		UserAgent             text `json:"userAgent"`
	} `json:"complaint"`
}

// parseSES reads the SES notification in an SNS message. snsID and sent are
// the SNS MessageId and Timestamp, used when the notification lacks its own
// id or time. It never fails: SNS already vouched for the message, so one
// that is not an SES notification is reported as an ignored event rather
// than answered with an error SNS would retry.
func parseSES(message, snsID string, sent time.Time) []Event {
	var n sesNotification
	if err := json.Unmarshal([]byte(message), &n); err != nil {
		return []Event{{Provider: ProviderSES, Kind: Ignored, ProviderID: snsID, At: sent,
			Detail: "SNS message is not an SES notification"}}
	}
	typ := string(n.NotificationType)
	if typ == "" {
		typ = string(n.EventType)
	}
	base := Event{
		Provider:          ProviderSES,
		Kind:              Ignored,
		MessageID:         sesMessageID(&n),
		ProviderMessageID: id(string(n.Mail.MessageID)),
		ProviderID:        snsID,
		Type:              clip(oneLine(typ), 64),
		At:                sent,
	}
	switch {
	case typ == "Bounce" && n.Bounce != nil:
		b := n.Bounce
		base.Type = "Bounce"
		if b.BounceType != "" {
			base.Type += "/" + clip(oneLine(string(b.BounceType)), 64)
		}
		base.ProviderID = firstString(id(string(b.FeedbackID)), snsID)
		base.At = firstTime(isoTime(string(b.Timestamp)), sent)
		var events []Event
		for _, r := range b.BouncedRecipients {
			e := base
			e.Kind = sesBounceKind(string(b.BounceType), string(r.Action), string(r.Status))
			e.Detail = detail(string(b.BounceSubType), string(r.Status), string(r.DiagnosticCode))
			if e.Kind == Ignored {
				e.Detail = detail("unknown SES bounceType " + string(b.BounceType))
			}
			events = append(events, recipient(e, string(r.EmailAddress)))
		}
		if len(events) == 0 {
			base.Detail = "SES bounce without bouncedRecipients"
			events = append(events, base)
		}
		return events
	case typ == "Complaint" && n.Complaint != nil:
		c := n.Complaint
		feedback := clip(oneLine(string(c.ComplaintFeedbackType)), 64)
		base.Type = "Complaint"
		if feedback != "" {
			base.Type += "/" + feedback
		}
		base.ProviderID = firstString(id(string(c.FeedbackID)), snsID)
		base.At = firstTime(isoTime(string(c.Timestamp)), sent)
		var events []Event
		for _, r := range c.ComplainedRecipients {
			e := base
			e.Kind = Complaint
			e.Detail = detail(string(c.ComplaintSubType), string(c.UserAgent))
			if strings.EqualFold(feedback, "not-spam") {
				// A not-spam report corrects an earlier spam verdict; it
				// is the opposite of a complaint.
				e.Kind = Ignored
				e.Detail = "feedback type not-spam: the reporter says the message is not spam"
			}
			events = append(events, recipient(e, string(r.EmailAddress)))
		}
		if len(events) == 0 {
			base.Detail = "SES complaint without complainedRecipients"
			events = append(events, base)
		}
		return events
	case typ == "Bounce" || typ == "Complaint":
		base.Detail = "SES " + typ + " notification without its " + strings.ToLower(typ) + " object"
		return []Event{base}
	default:
		// Delivery, Send, Open, DeliveryDelay and the rest: counted, not acted on.
		if base.Type == "" {
			base.Type = "unknown"
		}
		return []Event{base}
	}
}

// sesBounceKind maps an SES bounce type to a Kind. A Permanent bounce can
// still list a recipient whose DSN says the delivery was only delayed (SES's
// own bounce example has one), and that recipient is not gone for good.
func sesBounceKind(bounceType, action, status string) Kind {
	switch bounceType {
	case "Permanent":
		if strings.EqualFold(action, "delayed") || strings.HasPrefix(strings.TrimSpace(status), "4.") {
			return SoftBounce
		}
		return HardBounce
	case "Transient", "Undetermined":
		return SoftBounce
	default:
		return Ignored
	}
}

// sesMessageID returns the original message's Message-ID header from
// mail.headers. mail.messageId is SES's own id, and commonHeaders is not
// used because SES documents headers as the original's verbatim.
func sesMessageID(n *sesNotification) string {
	for _, h := range n.Mail.Headers {
		if strings.EqualFold(string(h.Name), "Message-ID") {
			return messageID(string(h.Value))
		}
	}
	return ""
}

func firstString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
