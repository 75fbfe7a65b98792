// Package outreach holds rapport's domain types: tiers and their cadence
// rules, contacts, topics, campaigns, deliveries, suppressions, the stable
// decision reason codes and the domain errors every other package speaks.
//
// It imports nothing but the standard library, so the cadence engine, the
// planner and every adapter can share these types without depending on each
// other.
package outreach
