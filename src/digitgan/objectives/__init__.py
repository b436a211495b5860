"""What the GANs learn from: the adversarial losses (a registry), the techniques added to them
(R1, mode seeking, top-k, class loss), and the self-conditioning clusters.
"""
