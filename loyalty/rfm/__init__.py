"""RFM segmentation (issue 14): the standard map of named cells (``cells``), the set-wise
computation of the scores (``compute``), the segment condition on a cell (``condition``) and
the segments made from a scheme's cells (``segments``). The models are in
``loyalty.models.rfm``, the admin in ``loyalty.admin.rfm``; docs/segments.md ("RFM")."""
