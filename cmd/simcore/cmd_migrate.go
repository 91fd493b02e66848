package main

import (
	"context"
	"flag"
)

func migrateCommand() *command {
	return &command{
		name:    "migrate",
		summary: "apply the database migrations (ClickHouse and PostgreSQL)",
		long:    "Creates the ClickHouse database if needed and applies every pending migration to ClickHouse and PostgreSQL. `simcore run` does this at start too.",
		flags: func(c *cmdEnv, fs *flag.FlagSet) {
			c.logFlags()
			c.clickhouseFlags()
			c.postgresFlags()
		},
		run: func(ctx context.Context, c *cmdEnv, args []string) error {
			if len(args) > 0 {
				return usagef("migrate takes no arguments")
			}
			log, err := c.logger()
			if err != nil {
				return err
			}
			return c.migrateAll(ctx, log)
		},
	}
}
