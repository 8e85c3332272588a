"""The OpenRTB 2.6 bidder: POST /openrtb/2.6/bid.

parse.py (with schema.py) checks a BidRequest and translates it into our AdRequest; the engine
decides; response.py (with markup.py) answers a BidResponse, or 204 when we do not bid; views.py is
the HTTP side (body cap, gzip, status codes, headers).
"""
