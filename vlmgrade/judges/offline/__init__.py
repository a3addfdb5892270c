"""judges/offline"""
