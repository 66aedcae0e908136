"""One module per family of formats. Each extractor is ``(path, data) -> Parsed`` and is listed
once in ``mbdg_assets.extract.extraction._FORMATS``; shared building blocks live in ``base``."""
