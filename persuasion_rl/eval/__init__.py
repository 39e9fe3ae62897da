"""Evaluation and analysis: the paper's tables and figures, with honest statistics.

* ``runner``: play a Sender against Receivers on claims, static and dynamic, K samples,
  batched and resumable, into a JSON-lines transcript file (``records``).
* ``table``: the results table (Sender x Receiver rows, corpus x setting columns) with
  cluster-bootstrap CIs over claims and failure counts; ``compare``: paired comparisons.
* ``stats``: the bootstrap, the Wilcoxon signed-rank test and the linear fit.
* ``analysis``: prior confidence (Fig. 3/6), message similarity (Fig. 4), strategies
  (Table 12, Figs. 7-8), scaling with parameter count.
* ``report``: one static HTML page of a results folder.

Heavy dependencies (torch, sentence-transformers, matplotlib) load inside the commands.
"""
