"""The paper's analyses of evaluation transcripts, each writing a PNG and its numbers:
``confidence`` (Figures 3 and 6), ``similarity`` (Figure 4), ``strategies`` (Table 12,
Figures 7-8) and ``scaling`` (gain against log10 Sender parameters)."""
