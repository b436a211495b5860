"""CycleGAN, typed <-> handwritten digits, in one place: networks, objectives (with the image
pool and decay), the guide classifier, the family the loop trains, translation and
handwriting, and its scores.
"""
