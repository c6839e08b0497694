"""One module per `leadsync` sub-command."""
