"""smartcom-tracker: a customer-data platform for online shops."""
