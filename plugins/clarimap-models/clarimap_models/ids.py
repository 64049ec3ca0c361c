"""The public model ids (wire reference, section 9) this distribution makes runnable.

Kept apart from :mod:`clarimap_models.models` so that loading the plugin imports neither numpy
nor Pillow: those come in when a model is first built.
"""

GENERAL_MODEL_ID = "aaa03c23b3724a16a56b629203edc62c"
GENERAL_EMBEDDING_MODEL_ID = "bbb5f41425b8468d9b7a554ff10f8581"
FACE_DETECTION_MODEL_ID = "a403429f2ddf4b49b307e318f00e528b"
NSFW_MODEL_ID = "e9576d86d2004ed1a38ba0cf39ecb4b1"

PUBLIC_APP_ID = "main"
