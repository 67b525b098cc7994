from django.urls import path
from hooks import views

urlpatterns = [
    path("hooks/in/", views.hook),
    path("hooks/webhook/", views.hook),
    path("open/", views.open_door),
]
