package policy

// Rule IDs of RULES.md that this package decides or cites. Refusals, steps,
// verdicts and breakdowns carry these strings; profiles name them as data.
const (
	RuleT1 = "T-1"
	RuleT3 = "T-3"
	RuleM2 = "M-2"
	RuleM3 = "M-3"

	RuleGEN1 = "GEN-1"
	RuleGEN2 = "GEN-2"
	RuleGEN3 = "GEN-3"
	RuleGEN4 = "GEN-4"

	RuleSSL2 = "SSL-2"
	RuleSSL3 = "SSL-3"
	RuleSSL4 = "SSL-4"
	RuleSSL5 = "SSL-5"
	RuleSSL6 = "SSL-6"
	RuleSSL7 = "SSL-7"
	RuleSSL8 = "SSL-8"
	RuleSSL9 = "SSL-9"

	RuleVAS1 = "VAS-1"
	RuleVAS2 = "VAS-2"
	RuleVAS3 = "VAS-3"
	RuleVAS4 = "VAS-4"
	RuleVAS5 = "VAS-5"

	RuleGW2 = "GW-2"
	RuleGW3 = "GW-3"
	RuleGW4 = "GW-4"

	RulePCA2 = "PCA-2"
	RulePCA3 = "PCA-3"

	RuleUNU1 = "UNU-1"
	RuleUNU2 = "UNU-2"
	RuleUNU3 = "UNU-3"
	RuleUNU4 = "UNU-4"

	RuleTC1 = "TC-1"
	RuleTC2 = "TC-2"
	RuleTC3 = "TC-3"
	RuleTC4 = "TC-4"
	RuleTC5 = "TC-5"
	RuleTC6 = "TC-6"

	RuleCAN1 = "CAN-1"
	RuleCAN2 = "CAN-2"
)

// KnownRule reports whether id is a rule ID of RULES.md. Profile files may
// only cite known rules, so a typo fails at load time, not in a refusal.
func KnownRule(id string) bool {
	switch id {
	case "T-1", "T-2", "T-3",
		"M-1", "M-2", "M-3", "M-4",
		"GEN-1", "GEN-2", "GEN-3", "GEN-4",
		"SSL-1", "SSL-2", "SSL-3", "SSL-4", "SSL-5", "SSL-6", "SSL-7", "SSL-8", "SSL-9",
		"VAS-1", "VAS-2", "VAS-3", "VAS-4", "VAS-5",
		"GW-1", "GW-2", "GW-3", "GW-4",
		"PCA-1", "PCA-2", "PCA-3",
		"UNU-1", "UNU-2", "UNU-3", "UNU-4",
		"TC-1", "TC-2", "TC-3", "TC-4", "TC-5", "TC-6",
		"CAN-1", "CAN-2":
		return true
	}
	return false
}
