"""Scoring digits beside the real-data floor: the MNIST classifier every metric uses,
FID/KID/IS/precision/recall, classification accuracy of synthetic data (CAS), and the HTML
report.
"""
