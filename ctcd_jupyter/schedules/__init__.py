"""Continuous training: when pipelines run.

    trigger     `Schedule`, the value: interval or cron, window, zone, catch-up
    scheduler   the generic scheduler thread (store-agnostic; jobs are callables)
    workers     the warm worker threads runs execute on
    records     `ScheduleRecord` snapshots and their persistence in the store
    pipelines   `Scheduling`: pipeline runs as scheduler jobs, skipped ticks as runs, resume
"""
