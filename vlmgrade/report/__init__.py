"""Formatting what a run computed: the run folder, the only module that writes and reads it (folder), report.md
(markdown), report.html (html), leaderboard and compare tables (tables) and terminal output (terminal)."""
