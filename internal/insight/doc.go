// Package insight is the pure arithmetic of relationship insight: how
// negative events are read from the contact timeline (Classify), the
// pressure buckets and the rates per 1,000 (Bucket, Per1000), the what-if
// replay of a proposed cadence rule over recorded deliveries (Replayer),
// and the rules that say a relationship drifts from its tier (Drift).
//
// Like cadence and planner it does no I/O: the store loads the facts, the
// tuning service hands them in with the clock, and everything here is
// table- and property-tested without a database.
package insight
