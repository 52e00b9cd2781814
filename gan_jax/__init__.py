"""gan_jax: generative adversarial networks in JAX/Flax.

The package implements the two-player game of a GAN primer: a generator
G(z) and a discriminator D(x) trained by simultaneous gradient steps on

    min_G max_D  V(D, G) = E_x log D(x) + E_z log(1 - D(G(z))).

Entry point: ``python -m gan_jax.main --config=configs/dcgan.py``.
"""
