"""A class-conditional GAN over the classifier's log-Mel features: model, training, inversion
to audio, evaluation."""
