"""ctcd_jupyter"""
