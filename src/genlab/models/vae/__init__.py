"""Variational autoencoders: conv+dense and fully convolutional, Bernoulli or Gaussian decoder, β/annealing/free bits."""
