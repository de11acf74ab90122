"""The application's workflows, on top of everything else (nothing below imports them): ``train`` (the
three stages), ``export``, ``deploy``, ``reproduce`` (the report), ``bench`` (speed and memory), and
``runs`` (opening a run folder)."""
