"""Jobs: one plain function per job (`run(cfg, db, ...)`), called by both the CLI and the scheduler."""
