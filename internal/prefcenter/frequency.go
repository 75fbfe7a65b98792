package prefcenter

import (
	"github.com/rapport-dev/rapport/internal/outreach"
)

// frequency is the frequency part of the preference center: the tiers a
// customer may choose, from the one that writes most often to the one that
// writes least, each with what it means; which one applies now and who
// chose it.
type frequency struct {
	Choices []choice
	// Note says which frequency applies when the list cannot show it: the
	// company set one that customers cannot choose themselves.
	Note string
}

// frequencyFor builds the frequency part for a contact. The tier that
// applies is the stricter of the company's and the customer's (a customer
// can always ask for less, never for more); it is the customer's choice
// when they made one and it is the one that applies.
func frequencyFor(ms messages, company string, tiers []outreach.Tier, ct outreach.Contact) frequency {
	byKey := make(map[string]outreach.Tier, len(tiers))
	for _, t := range tiers {
		byKey[t.Key] = t
	}
	assigned, known := byKey[ct.Tier]
	var preferred *outreach.Tier
	if p, ok := byKey[ct.PreferredTier]; ok {
		preferred = &p
	}
	applies := assigned
	if known {
		applies = outreach.Stricter(assigned, preferred)
	} else if preferred != nil {
		applies = *preferred
	}
	theirs := preferred != nil && applies.Key == preferred.Key
	checked := ct.PreferredTier
	if checked == "" {
		checked = ct.Tier
	}
	var f frequency
	listed := false
	for _, t := range outreach.ByFrequency(tiers) {
		if !t.Selectable {
			continue
		}
		c := choice{Key: t.Key, Name: t.Name, Checked: t.Key == checked, Meaning: outreach.DescribeRule(t.Rule, ms.lang)}
		switch {
		case t.Key == applies.Key && theirs:
			c.Mark = ms.T("frequency.applies_yours")
		case t.Key == applies.Key:
			c.Mark = ms.T("frequency.applies_company", company)
		case c.Checked:
			c.Mark = ms.T("frequency.yours_capped")
		}
		listed = listed || t.Key == applies.Key
		f.Choices = append(f.Choices, c)
	}
	if !listed && applies.Key != "" {
		f.Note = ms.T("frequency.applies_other", applies.Name, company, outreach.DescribeRule(applies.Rule, ms.lang))
	}
	return f
}
