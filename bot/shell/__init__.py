"""The shell: what a person or the clock drives (the CLI, the scheduler, reports, the review desk). It calls the
jobs; nothing below imports it."""
