"""Pure statistics over in-memory records, no files: intervals and tests (stats), score rows (scores), paired
comparisons and leaderboards (comparison), pairwise rubrics, judge controls and agreement."""
