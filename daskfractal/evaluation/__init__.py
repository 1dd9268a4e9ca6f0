"""Downstream fidelity: do recommenders rank the same on the expansion as on the real data?"""
