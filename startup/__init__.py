"""What the operator reads before and at start-up: the summary line and exposure warning
(``summary``) and ``python app.py --check`` (``check``)."""
