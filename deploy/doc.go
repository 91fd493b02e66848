// Package deploy holds the files an operator deploys simcore with: systemd
// units, Prometheus scrape config and alert rules, a Grafana dashboard. It
// has no code; its tests check those files against the binary's metrics
// and run promtool on the rules. It imports nothing of simcore.
package deploy
