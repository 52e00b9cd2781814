"""Evaluation metrics, as pure functions of samples or features.

  feature_metrics  FID, KID, precision/recall, density/coverage on (N, d) features.
  mode_metrics     PacGAN's 2-D mode counts, Stacked-MNIST modes, label
                   histograms and the Inception Score of classifier outputs.
  classifier       the MNIST digit CNN whose logits and 128-d features the
                   metrics above use on images; weights ship in ``weights/``.
  image_metrics    PSNR and SSIM between image pairs, on a region (inpainting's hole).
"""
