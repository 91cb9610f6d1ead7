"""What predict hands to people and PACS: a DICOM SR of the findings, PNG views and an HTML page.

No torch here (predict imports it).
"""
