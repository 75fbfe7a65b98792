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
// applies is the engine's (outreach.EffectiveTier): the stricter of the
// company's and the customer's (a customer can always ask for less, never
// for more); it is the customer's choice when they made one and it is the
// one that applies. When the company's tier is not among tiers (only for a
// moment, while a new tier is being set up) no tier applies, so no choice
// is marked as applying: the customer's own choice, if they made one, is
// marked as theirs, and the choices stay open to them.
func frequencyFor(ms messages, company string, tiers []outreach.Tier, ct outreach.Contact) frequency {
	byKey := make(map[string]outreach.Tier, len(tiers))
	for _, t := range tiers {
		byKey[t.Key] = t
	}
	applies, inForce := outreach.EffectiveTier(byKey, ct.Tier, ct.PreferredTier)
	_, chose := byKey[ct.PreferredTier]
	theirs := inForce && chose && applies.Key == ct.PreferredTier
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
		case !inForce:
			if c.Checked && chose {
				c.Mark = ms.T("frequency.yours")
			}
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
	if inForce && !listed {
		f.Note = ms.T("frequency.applies_other", applies.Name, company, outreach.DescribeRule(applies.Rule, ms.lang))
	}
	return f
}
