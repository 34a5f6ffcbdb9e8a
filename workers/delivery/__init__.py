"""Stage 4, delivery: send each notification exactly once (send.py), the delivery jobs
that retry or dead-letter (jobs.py), job scheduling and the sweeps.
"""
