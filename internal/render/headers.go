package render

import "strconv"

// Header is one message header.
type Header struct {
	Name, Value string
}

// BulkHeaders are the headers a marketing message carries besides From,
// To, Subject, Date and Message-ID, in order: one-click unsubscribe (RFC
// 8058 and RFC 2369), Precedence, and, when listIDDomain is set and the
// campaign has a topic, List-Id; Feedback-ID when feedbackSender is set.
// The send job puts them on every message and a preview shows them, so
// both say the same. Transactional messages carry none of them.
func BulkHeaders(campaignID int64, topic, unsubscribeURL, listIDDomain, feedbackSender string) []Header {
	h := []Header{
		{"List-Unsubscribe", "<" + unsubscribeURL + ">"},
		{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
		{"Precedence", "bulk"},
	}
	if listIDDomain != "" && topic != "" {
		h = append(h, Header{"List-Id", topic + " <" + topic + "." + listIDDomain + ">"})
	}
	if feedbackSender != "" {
		h = append(h, Header{"Feedback-ID", strconv.FormatInt(campaignID, 10) + ":" + topic + ":" + feedbackSender})
	}
	return h
}
