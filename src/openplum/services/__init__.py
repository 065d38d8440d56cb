"""Domain rules, one module per area. No HTTP and no SQL: services speak to the store through ``store.base.Tx``."""
