"""Synchronisation with the provider, one module per step.

* ``request``: ask for a run (one active run per service, enforced by the database), queued on
  commit;
* ``execute``: the task's work: take the service's lock, fetch outside any transaction, decide
  retries;
* ``batch``: the scheduler's batches: many runs of one provider in one task, fetched
  concurrently, each applied in its own transaction with every guarantee of a single run;
* ``apply``: ``snapshot_apply``, one transaction that locks the service's balance rows;
* ``schedule``: which services are due (with jitter), failures and the pause after too many,
  closing abandoned runs;
* ``plan``: the pure function shared by the sync and Test connection;
* ``failures``: what an unexpected exception in any step becomes (a failed run, never a stuck
  one).

Imports flow request <- schedule <- execute <- batch <- balances.tasks; the tasks are queued by
name, so no step imports the tasks module.
"""
