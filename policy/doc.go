// Package policy owns certflow's refund rules: which refund requests are
// granted, what must happen first, and how much goes back where. It reads
// the vendor profiles (aliyun-intl, aliyun-cn, tencent) as versioned data,
// resolves the version in force when an order was paid, and judges
// requests (Evaluate), completed revocation reviews (JudgeRevocation) and
// cancellations (CanCancel), citing the rule IDs of RULES.md.
//
// It guarantees determinism: the package is pure, takes the current time
// as an argument, and returns refusals and steps in a fixed order, so
// Temporal workflows may call it directly. It imports neither the Temporal
// SDK nor net/http, never reads the clock, and never iterates a map into an
// output.
package policy
