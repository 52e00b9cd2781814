"""gan_jax: generative adversarial networks in JAX/Flax.

The package implements the game of a GAN primer: a generator G(z) and a
discriminator D(x) trained by simultaneous gradient steps on

    min_G max_D  V(D, G) = E_x log D(x) + E_z log(1 - D(G(z))),

and hosts any game between named players on dict batches as a task
(gan_jax/tasks): conditional generators, several generators and
discriminators, encoders.

Entry point: ``python -m gan_jax.main --config=configs/dcgan.py``.
"""
