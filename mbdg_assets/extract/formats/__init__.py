"""One module per family of formats. Each extractor is ``(path, data) -> Parsed`` (a container,
like e-mail, ``(path, data, depth, parse) -> Parsed``: it is handed the dispatcher) and is listed
once in ``mbdg_assets.extract.extraction._FORMATS``; shared building blocks live in ``base``."""
