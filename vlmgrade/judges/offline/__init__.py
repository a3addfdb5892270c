"""Offline scorers, computed from the sample alone: grounded (claims checked against the annotations, with
claims and fluency), references (BLEU-4, ROUGE-L, CIDEr-D) and memorisation (against the training texts)."""
