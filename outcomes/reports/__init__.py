"""Report builders: per-patient outcome reports, the clinic audit and the schedule comparison."""
