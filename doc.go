// Package certflow is the root of the certflow module: a Temporal service
// that runs the certificate lifecycle and the refund process of an SSL
// certificate vendor's console. See README.md; the packages below hold the
// pieces (statemachine, policy, money, calendar: pure rules; workflows and
// activities: orchestration; gateway, store, casim: the running system).
package certflow
