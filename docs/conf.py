"""Sphinx configuration of the nsnet_study site: `make docs` (docs/build.py) writes _docs/.

Pages: the guides (docs/guides/*.md), the library notebooks as API pages (each with a show_doc section for every
public name, generated into a private copy of docs/, under _generated/library/), and the study notebooks as committed, executed by
`make reproduce` (nbs/study/*.ipynb, copied under _generated/studies/; never re-executed here)."""
project = "nsnet_study"
author = "nsnet_study developers"
copyright = "2026 onwards, nsnet_study developers"
extensions = ["myst_nb"]
myst_enable_extensions = ["dollarmath", "colon_fence", "attrs_inline"]
nb_execution_mode = "off"  # library notebooks render as written; studies as `make reproduce` executed them
nb_merge_streams = True
html_theme = "sphinx_book_theme"
html_title = "nsnet_study"
html_theme_options = {"repository_url": "https://github.com/nsnet-study/nsnet_study", "use_repository_button": True,
                      "show_toc_level": 2}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "build.py"]
suppress_warnings = ["myst.header", "mystnb.unknown_mime_type", "misc.highlighting_failure", "toc.not_included"]
