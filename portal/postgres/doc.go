// Package postgres stores the portal domain in PostgreSQL: users, sessions,
// one-time tokens and SIM ownership (tables portal_*), with its own goose
// migrations and version table, and FollowUsers, which keeps a
// portal.CachedStore in step with changes any process commits. It imports
// the portal domain and internal/pglisten, never another domain's adapter:
// ICCIDs here are not foreign keys into the provisioning inventory.
package postgres
