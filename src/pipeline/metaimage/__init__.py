"""MetaImage input (LUNA16 as its organisers ship it): ``subsetN/<seriesuid>.mhd`` + ``.raw``.

``detect`` decides what a raw folder holds (DICOM or MetaImage), ``header`` reads and checks one
volume's header without its pixels, ``scan`` lists and validates a cohort for ingest, and
``passthrough`` is what anonymize does with a cohort that is already de-identified.
"""
