"""The web boundary, in front of every route: the access gate (``access``), the browser boundary
(``boundary``: session binding, origins, CSP, file ownership), per-client quotas (``quota``),
upload ownership (``uploads``), Hugging Face login (``hflogin``) and the ASGI pieces they share
(``asgi``). Plain ASGI: nothing here imports Gradio.
"""
